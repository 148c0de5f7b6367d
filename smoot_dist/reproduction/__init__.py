"""The paper's comparison over seeds and its results page (reproduce.py): the library call of
jobs/reproduce.py."""
