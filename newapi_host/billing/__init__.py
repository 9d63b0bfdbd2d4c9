"""Money: prices (``pricing``), live balances (``wallets``), settled charges (``ledger``) and the
per-worker journal that keeps charges across a crash (``journal``). See docs/billing.md."""
