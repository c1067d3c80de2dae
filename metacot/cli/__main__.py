"""`python -m metacot.cli`: the metacot command."""

import sys

from metacot.cli import main

sys.exit(main())
