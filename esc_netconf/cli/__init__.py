"""esc_netconf.cli"""
