"""esc_netconf.netconf"""
