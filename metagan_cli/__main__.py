import sys

from metagan_cli.cli import main

sys.exit(main())
