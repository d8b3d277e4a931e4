/* The kernel's floor for a fan-out sender: bench/send_floor.py builds and drives this.
 *
 * send_floor MODE N SCHEDULE WARMUP_S WINDOW_S PORT...
 *   MODE      "send": one connected UDP socket per receiver, one send() per datagram
 *             "mmsg": one socket for all receivers, one sendmmsg() per source packet
 *   SCHEDULE  file: the loop's duration in ns, then lines "offset_ns size", one per packet
 * Each source packet goes to every receiver port on 127.0.0.1 at its time in the loop
 * (the loop repeats). Prints one JSON line: the CPU seconds (user, system) this process
 * spent in the window, the datagrams sent in it and the send errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PACKETS 65536
#define MAX_SIZE 1500

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_s(int which) { /* 0: user, 1: system */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    struct timeval tv = which ? ru.ru_stime : ru.ru_utime;
    return tv.tv_sec + tv.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: send_floor send|mmsg N SCHEDULE WARMUP_S WINDOW_S PORT...\n");
        return 2;
    }
    int mmsg = strcmp(argv[1], "mmsg") == 0;
    int n = atoi(argv[2]);
    double warmup = atof(argv[4]), window = atof(argv[5]);
    if (argc != 6 + n) {
        fprintf(stderr, "expected %d ports\n", n);
        return 2;
    }
    static long long offsets[MAX_PACKETS];
    static int sizes[MAX_PACKETS];
    int count = 0;
    FILE *f = fopen(argv[3], "r");
    if (!f) {
        perror("schedule");
        return 2;
    }
    long long loop_ns = 0;
    if (fscanf(f, "%lld", &loop_ns) != 1) {
        fprintf(stderr, "schedule: no loop duration\n");
        return 2;
    }
    while (count < MAX_PACKETS && fscanf(f, "%lld %d", &offsets[count], &sizes[count]) == 2)
        count++;
    fclose(f);

    static char payload[MAX_SIZE];
    for (int i = 0; i < MAX_SIZE; i++) payload[i] = (char)(i * 7 + 1);
    struct sockaddr_in *addrs = calloc(n ? n : 1, sizeof *addrs);
    int *fds = calloc(n ? n : 1, sizeof *fds);
    struct mmsghdr *msgs = calloc(n ? n : 1, sizeof *msgs);
    struct iovec *iov = calloc(n ? n : 1, sizeof *iov);
    int shared = socket(AF_INET, SOCK_DGRAM, 0);
    for (int i = 0; i < n; i++) {
        addrs[i].sin_family = AF_INET;
        addrs[i].sin_port = htons(atoi(argv[6 + i]));
        addrs[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (mmsg) {
            iov[i].iov_base = payload;
            msgs[i].msg_hdr.msg_name = &addrs[i];
            msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        } else {
            fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
            if (connect(fds[i], (struct sockaddr *)&addrs[i], sizeof addrs[i]) != 0) {
                perror("connect");
                return 1;
            }
        }
    }
    long long start = now_ns();
    long long measure_from = start + (long long)(warmup * 1e9);
    long long end = measure_from + (long long)(window * 1e9);
    double u0 = 0, s0 = 0;
    int measuring = 0;
    long long sent = 0, total = 0, errors = 0;
    for (long long loop = 0;; loop++) {
        for (int p = 0; p < count; p++) {
            long long due = start + loop * loop_ns + offsets[p];
            if (!measuring && due >= measure_from) {
                u0 = cpu_s(0);
                s0 = cpu_s(1);
                measuring = 1;
            }
            if (due >= end) goto done;
            long long wait = due - now_ns();
            if (wait > 0) {
                struct timespec ts = {wait / 1000000000LL, wait % 1000000000LL};
                nanosleep(&ts, NULL);
            }
            if (mmsg) {
                for (int i = 0; i < n; i++) iov[i].iov_len = sizes[p];
                int done_msgs = 0;
                while (done_msgs < n) {
                    int r = sendmmsg(shared, msgs + done_msgs, n - done_msgs, 0);
                    if (r < 0) {
                        errors++;
                        break;
                    }
                    done_msgs += r;
                }
                total += done_msgs;
                if (measuring) sent += done_msgs;
            } else {
                for (int i = 0; i < n; i++) {
                    if (send(fds[i], payload, sizes[p], 0) < 0) {
                        errors++;
                        continue;
                    }
                    total++;
                    if (measuring) sent++;
                }
            }
        }
    }
done:
    printf("{\"user\": %.6f, \"system\": %.6f, \"sent\": %lld, \"total\": %lld, \"errors\": %lld}\n",
           cpu_s(0) - u0, cpu_s(1) - s0, sent, total, errors);
    return 0;
}
