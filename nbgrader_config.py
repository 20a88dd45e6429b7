# nbgrader configuration of the course in this repository (read by `nbgrader`, run from here).
# The source notebooks are generated from solutions/ by `make exercises` into build/ (git-ignored);
# the released student notebooks land in exercises/, which is committed.
from tokbook.course.settings import grading_config

c = get_config()  # noqa: F821 -- provided by nbgrader when it reads this file
c.merge(grading_config("tokbook"))
c.CourseDirectory.source_directory = "build/nbgrader/source"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = "sqlite:///build/nbgrader/gradebook.db"
