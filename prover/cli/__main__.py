from prover.cli import main

# Guarded: a backend that starts processes with `spawn` (vLLM's engine core) re-imports the
# main module in the child, which must not run the command a second time.
if __name__ == "__main__":
    main()
