"""esc_netconf.ssh"""
