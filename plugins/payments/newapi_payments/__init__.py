"""Epay (易支付), Stripe and Creem top-ups for the New API host: one payment method per entry point."""
