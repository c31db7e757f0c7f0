"""`python -m cookieguard.cli`: the same as the `cookieguard` command."""

import sys

from cookieguard.cli import main

sys.exit(main())
