"""`python -m ans.eval [hydra overrides]`: see ans.eval.evaluate."""

from ans.eval.evaluate import main

main()
