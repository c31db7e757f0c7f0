"""The sans-IO core: values in, values and decisions out.

Nothing under this package may touch sockets, files, databases, the event loop or the clock;
time and randomness arrive as parameters or through `tokens`' single source of randomness.
A test (tests/core/test_sans_io.py) walks the imports and enforces this.
"""
