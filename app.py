"""Start the qa web chat over seeds/ at http://127.0.0.1:7860 (see `qa serve --help`)."""

import sys

from qa.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
