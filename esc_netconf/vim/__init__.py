"""esc_netconf.vim"""
