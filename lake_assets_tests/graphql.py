"""The Dagster webserver's GraphQL calls the UI makes, as the deployment test and ``bench/daemon_backfill.py``
send them. Each answer names its ``__typename``, so a failure reads as the webserver's own message."""

SENSOR = """query ($sensor: SensorSelector!) { sensorOrError(sensorSelector: $sensor) {
  __typename ... on Sensor { id sensorState { status } } ... on PythonError { message } } }"""
SENSORS = """query ($repo: RepositorySelector!) { sensorsOrError(repositorySelector: $repo) {
  __typename ... on Sensors { results { id name sensorState { status } } } ... on PythonError { message } } }"""
STOP_SENSOR = """mutation ($id: String!) { stopSensor(id: $id) {
  __typename ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }"""
LAUNCH_BACKFILL = """mutation ($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  ... on PartitionSetNotFoundError { message } ... on InvalidSubsetError { message } } }"""
BACKFILL = """query ($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { status numPartitions } ... on PythonError { message } } }"""
RUNS = """query ($filter: RunsFilter!) { runsOrError(filter: $filter) {
  __typename ... on Runs { results { runId status startTime endTime } } ... on PythonError { message } } }"""
LAUNCH_RUN = """mutation ($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
START_SENSOR = """mutation ($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }"""
LOGS_CAPTURED = """query ($runId: ID!) { logsForRun(runId: $runId) {
  __typename ... on EventConnection { events { __typename ... on LogsCapturedEvent { fileKey stepKeys } } }
  ... on PythonError { message } } }"""
CAPTURED_LOGS = """query ($logKey: [String!]!) { capturedLogs(logKey: $logKey) { stdout stderr } }"""
