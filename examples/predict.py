"""See minitorch_cnn/cli/predict.py.  Usage: python examples/predict.py --help"""
from minitorch_cnn.cli.predict import main

if __name__ == "__main__":
    main()
