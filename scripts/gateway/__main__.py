import sys

from scripts.gateway.cli import main

sys.exit(main())
