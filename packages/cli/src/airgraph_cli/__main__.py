"""``python -m airgraph_cli`` runs the ``airgraph`` command."""

import sys

from airgraph_cli.main import main

sys.exit(main())
