"""``python -m helpmail.cli``."""

import sys

from helpmail.cli import main

sys.exit(main())
