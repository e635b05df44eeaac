from pathlib import Path

from rag.documents import load_documents


def write(root: Path, name: str, data: bytes | str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def test_front_matter_and_defaults(tmp_path):
    write(
        tmp_path,
        "fr/a.md",
        "---\ntitle: Un titre\nslug: shared\nurl: https://example.org/a\n"
        "author: Ada\ndate: 2022-03-15\n---\n\nLe texte de l'article.\n",
    )
    write(tmp_path, "en/b.md", "# A heading title\n\nThe text of the article.\n")
    write(tmp_path, "notes.txt", "Ceci est une note en français, sans en-tête ni dossier de langue.")
    docs, errors = load_documents(tmp_path)
    assert errors == []
    by_id = {d.doc_id: d for d in docs}
    assert set(by_id) == {"fr/a", "en/b", "notes"}
    a = by_id["fr/a"]
    assert (a.title, a.slug, a.lang, a.url, a.author, a.date) == (
        "Un titre",
        "shared",
        "fr",
        "https://example.org/a",
        "Ada",
        "2022-03-15",
    )
    assert a.text == "Le texte de l'article."
    assert (by_id["en/b"].title, by_id["en/b"].lang, by_id["en/b"].slug) == ("A heading title", "en", "b")
    assert by_id["notes"].lang == "fr"


def test_content_hash_follows_the_bytes(tmp_path):
    path = write(tmp_path, "en/a.md", "Some text.")
    first = load_documents(tmp_path)[0][0].content_hash
    assert load_documents(tmp_path)[0][0].content_hash == first
    path.write_text("Some other text.")
    assert load_documents(tmp_path)[0][0].content_hash != first


def test_bad_files_are_named_with_a_reason_and_the_rest_is_read(tmp_path):
    write(tmp_path, "en/good.md", "A good article.")
    write(tmp_path, "en/binary.md", bytes(range(256)) * 4)
    write(tmp_path, "fr/latin1.md", "Économie sociale et solidaire".encode("latin-1"))
    write(tmp_path, "fr/empty.md", "")
    write(tmp_path, "fr/only-front-matter.md", "---\ntitle: x\n---\n\n")
    write(tmp_path, "fr/unclosed.md", "---\ntitle: x\n\nText without the closing line.")
    write(tmp_path, "fr/bad-yaml.md", "---\ntitle: [unclosed\n---\nText.")
    write(tmp_path, "fr/list.md", "---\n- a\n- b\n---\nText.")
    docs, errors = load_documents(tmp_path)
    assert [d.doc_id for d in docs] == ["en/good"]
    reasons = {e.doc_id: e.reason for e in errors}
    assert "binary" in reasons["en/binary"]
    assert "UTF-8" in reasons["fr/latin1"] and "Latin-1" in reasons["fr/latin1"]
    assert "no text" in reasons["fr/empty"]
    assert "no text" in reasons["fr/only-front-matter"]
    assert "closing" in reasons["fr/unclosed"]
    assert "front matter" in reasons["fr/bad-yaml"]
    assert "front matter" in reasons["fr/list"]


def test_readme_and_hidden_files_are_not_articles(tmp_path):
    write(tmp_path, "README.md", "How to add articles.")
    write(tmp_path, ".drafts/x.md", "A draft.")
    write(tmp_path, "en/a.md", "An article.")
    docs, errors = load_documents(tmp_path)
    assert [d.doc_id for d in docs] == ["en/a"] and errors == []
