"""What happened: launched runs, run and quality logs, predictions."""
