import sys

from toolace_kedro.ablations.grid import main

sys.exit(main())
