"""One tracked run: the public :class:`Tracker` facade and the collaborators it is made of (config, hardware,
outputs, counters, process guards)."""
