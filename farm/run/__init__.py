"""The runner side of `farm test`, `farm report` and `farm calibrate`: what happens around pytest
(which it starts as a process of its own, so it never imports farm.plugin).
"""
