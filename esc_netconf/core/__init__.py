"""esc_netconf.core"""
