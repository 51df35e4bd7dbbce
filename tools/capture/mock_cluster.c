/* mock_cluster: a stand-alone librdkafka mock cluster for capturing golden
 * bytes (tools/capture/capture_golden.sh).
 *
 * Starts librdkafka's in-process mock cluster (rdkafka_mock.h), which listens
 * on real loopback TCP ports, creates the requested topics, prints the
 * bootstrap address as one line on stdout ("127.0.0.1:PORT[,...]") and then
 * serves until SIGINT or SIGTERM.
 *
 * Usage: mock_cluster [-b BROKERS] [-t TOPIC:PARTITIONS]... [-a KEY:MIN:MAX]...
 *   defaults: one broker, topic "golden" with one partition.
 *   -a overrides the version range the mock advertises for an API key
 *   (rd_kafka_mock_set_apiversion), e.g. -a 3:0:4 so that clients send the
 *   Metadata version they would send a real broker; only raise a range to
 *   versions the mock's handler actually implements.
 *
 * Build: cc -O1 -o mock_cluster mock_cluster.c $(pkg-config --cflags --libs rdkafka)
 *
 * Not part of the library: a developer tool, run by hand or by the capture
 * script only.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

int main(int argc, char **argv) {
  int broker_cnt = 1;
  const char *topics[32];
  int topic_cnt = 0;
  int api_ranges[32][3];
  int api_cnt = 0;
  int opt;
  while ((opt = getopt(argc, argv, "b:t:a:")) != -1) {
    switch (opt) {
      case 'b':
        broker_cnt = atoi(optarg);
        break;
      case 't':
        if (topic_cnt < 32) topics[topic_cnt++] = optarg;
        break;
      case 'a':
        if (api_cnt < 32 && sscanf(optarg, "%d:%d:%d", &api_ranges[api_cnt][0],
                                   &api_ranges[api_cnt][1], &api_ranges[api_cnt][2]) == 3)
          api_cnt++;
        else
          fprintf(stderr, "bad -a %s (want KEY:MIN:MAX)\n", optarg);
        break;
      default:
        fprintf(stderr, "usage: %s [-b brokers] [-t topic:partitions]... [-a key:min:max]...\n",
                argv[0]);
        return 2;
    }
  }
  if (topic_cnt == 0) topics[topic_cnt++] = "golden:1";

  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* The handle only hosts the mock cluster's thread; keep it quiet. */
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!rk) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, broker_cnt);
  if (!mcluster) {
    fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  for (int i = 0; i < topic_cnt; i++) {
    char name[256];
    int partitions = 1;
    snprintf(name, sizeof(name), "%s", topics[i]);
    char *colon = strrchr(name, ':');
    if (colon) {
      *colon = '\0';
      partitions = atoi(colon + 1);
    }
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster, name, partitions, 1);
    if (err) {
      fprintf(stderr, "topic %s: %s\n", name, rd_kafka_err2str(err));
      return 1;
    }
  }

  for (int i = 0; i < api_cnt; i++)
    rd_kafka_mock_set_apiversion(mcluster, (int16_t)api_ranges[i][0], (int16_t)api_ranges[i][1],
                                 (int16_t)api_ranges[i][2]);

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
  fflush(stdout);
  while (!stop_requested) usleep(100 * 1000);

  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(rk);
  return 0;
}
