"""esc_netconf.store"""
