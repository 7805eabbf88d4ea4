"""Money: pricing, reserve/settle/refund, and the ledger of log rows."""
