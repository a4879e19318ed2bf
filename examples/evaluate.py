"""See minitorch_cnn/cli/evaluate.py.  Usage: python examples/evaluate.py --help"""
from minitorch_cnn.cli.evaluate import main

if __name__ == "__main__":
    main()
