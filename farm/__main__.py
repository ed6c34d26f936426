import sys

from farm.cli.main import main

sys.exit(main())
