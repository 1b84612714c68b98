"""Placeholder demo: shows that airgraph is installed (the real demo replaces this file)."""

import airgraph_core


def main() -> None:
    print(f"airgraph-core {airgraph_core.__version__} is installed")


if __name__ == "__main__":
    main()
