"""claude plugin."""
