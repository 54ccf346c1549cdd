"""Synthetic homes: seeded, labelled weeks of life as sensor events, for robustness figures.

    week = generate(seed=1, index=0)      # edgeagent_mocks.synthetic.home_week
    week.lines(); week.layout.map_toml(); week.activity_lines(); week.falls

life.py plans where she is; render.py turns that into sensor intervals for a
layout (layouts.py); faults.py lays faults over them; home_week.py makes the
event lines and labels the falls; scoring.py runs the engine on them.
"""
