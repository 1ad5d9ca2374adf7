"""Day-0 configuration: templates rendered per VM with value pools and ESC's tokens, given to the VIM.

``pools`` hands variable values out, ``tokens`` fills ESC's built-in tokens, ``template`` renders safely,
``fetch`` is the seam to the URL fetcher, ``validate`` refuses what can be refused at commit, ``payload``
puts it together for ``vmsteps.build``.  (No re-exports here: ``core.context`` imports ``fetch``, and
``payload`` imports ``core.context``.)
"""
