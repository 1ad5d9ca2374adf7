"""esc-netconf: the northbound interface of an ESC-style VNF manager (NETCONF, REST, CLIs)."""

__version__ = "0.1.0"
