"""``python -m lean_fake`` or ``python path/to/lean_fake``: run the fake Lean REPL."""
import os
import sys

# Run by path, sys.path[0] is this directory, not its parent: put the parent first so that
# `lean_fake` imports from any working directory (and nothing else of the project is needed).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lean_fake.loop import main

sys.exit(main())
