"""Orders: pre-trade risk, the paper OMS and per-order lifecycle traces."""
