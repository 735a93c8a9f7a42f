"""`python -m trigformer ...` is the `synth` command."""

import sys

from trigformer.flow.cli import main

sys.exit(main())
