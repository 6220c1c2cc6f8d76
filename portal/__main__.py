"""`python -m portal`: operator commands."""

import sys

from portal.cli import main

sys.exit(main())
