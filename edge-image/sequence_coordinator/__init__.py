"""The coordinator: mesh routing between algo instances and the execution graph engine."""
