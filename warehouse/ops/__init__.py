"""Floor 7, ops: running it all: the task functions of the DAGs, the in-process job, replay, Airflow's
environment, Assets and deployment. Imports serve and below.
"""
