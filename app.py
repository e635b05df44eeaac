"""Start the browser chat: `python app.py`, then open the printed address.

Settings come from RAG_* variables and rag.toml (README): RAG_HOST and RAG_PORT
(127.0.0.1:7860), RAG_AUTH for a login. An empty store is indexed first.
"""

import logging

from rag.config import load_settings
from rag.ui import launch, prepare


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    prepare(settings)
    print(f"Chat ready at http://{settings.host}:{settings.port}", flush=True)
    launch(settings)


if __name__ == "__main__":
    main()
