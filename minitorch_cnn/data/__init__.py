"""PLACEHOLDER: data loading is being written (helper 'data')."""
