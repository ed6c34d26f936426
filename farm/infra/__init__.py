"""The farm's boundaries: Docker engines and swarms, images, the Grid client and Grid sessions.

Called by the `farm` command, the run and the plugin; imports nothing but farm.core.
"""
