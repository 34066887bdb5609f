package datamig;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.Result;
import org.neo4j.graphdb.Transaction;
import org.neo4j.io.ByteUnit;
import org.neo4j.logging.Level;
import org.neo4j.logging.log4j.Log4jLogProvider;

/**
 * Runs a real Neo4j 5.26 community DBMS embedded in this JVM, with Bolt on 127.0.0.1:PORT and
 * authentication on.
 *
 * <pre>
 *   NEO4J_LAUNCHER_PASSWORD=... java -Xmx768m -cp 'target/neo4j-launcher.jar:target/lib/*' \
 *       datamig.Neo4jLauncher --home DIR --port N [--ready-file PATH] [--pagecache-mb 256]
 * </pre>
 *
 * The password comes from the environment because argv is world-readable through ps. It is applied
 * only while the built-in user still has its factory password (first start of a home); later starts
 * leave it alone, so the same home must always be started with the same password.
 */
public final class Neo4jLauncher {
    static final String PASSWORD_ENV = "NEO4J_LAUNCHER_PASSWORD";
    static final String USER = "neo4j";

    private Neo4jLauncher() {}

    public static void main(String[] argv) throws Exception {
        Args args = Args.parse(argv);
        String password = System.getenv(PASSWORD_ENV);
        if (password == null || password.isEmpty()) {
            fail("environment variable " + PASSWORD_ENV + " is not set");
        }
        Files.createDirectories(args.home);
        // A ready file left over from an earlier run must not announce this one.
        if (args.readyFile != null) {
            Files.deleteIfExists(args.readyFile);
        }

        Instant t0 = Instant.now();
        AtomicReference<DatabaseManagementService> dbms = new AtomicReference<>();
        CountDownLatch stopped = new CountDownLatch(1);
        // SIGTERM/SIGINT run shutdown hooks: checkpoint and close the store so the next start
        // needs no recovery.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            DatabaseManagementService service = dbms.getAndSet(null);
            if (args.readyFile != null) {
                try {
                    Files.deleteIfExists(args.readyFile);
                } catch (IOException e) {
                    log("could not remove ready file: " + e);
                }
            }
            if (service != null) {
                log("shutting down");
                service.shutdown();
                log("stopped");
            }
            stopped.countDown();
        }, "neo4j-launcher-shutdown"));

        try {
            dbms.set(build(args));
            ensurePassword(dbms.get().database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME), password);
            waitForBolt(args.port, Duration.ofSeconds(30));
            if (args.readyFile != null) {
                writeAtomically(args.readyFile, Integer.toString(args.port) + "\n");
            }
        } catch (Exception e) {
            // Neo4j's non-daemon threads would keep a failed JVM alive; exit runs the hook.
            e.printStackTrace();
            fail("start-up failed: " + e.getMessage());
        }
        log("ready: bolt://127.0.0.1:" + args.port + " after "
                + Duration.between(t0, Instant.now()).toMillis() + " ms");
        stopped.await();
    }

    private static DatabaseManagementService build(Args args) {
        SocketAddress bolt = new SocketAddress("127.0.0.1", args.port);
        return new DatabaseManagementServiceBuilder(args.home)
                // Neo4j's own INFO log to stdout, which the Python side sends to a log file.
                .setUserLogProvider(new Log4jLogProvider(System.out, Level.INFO))
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                // Nothing may listen beyond loopback, whatever the defaults become.
                .setConfig(GraphDatabaseSettings.default_listen_address, new SocketAddress("127.0.0.1"))
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, bolt)
                .setConfig(BoltConnector.advertised_address, bolt)
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                // Usage data collection would phone home; this machine has no such network.
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                .setConfig(GraphDatabaseInternalSettings.udc_network_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(args.pagecacheMb))
                // Netty otherwise idles 5 s per event loop group on shutdown (10 s+ per stop).
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                .build();
    }

    /**
     * A fresh home has user neo4j with the factory password and "change required", which the Python
     * driver cannot get past; replace it while that is still the case.
     */
    private static void ensurePassword(GraphDatabaseService system, String password) {
        boolean changeRequired;
        try (Transaction tx = system.beginTx();
                Result r = tx.execute(
                        "SHOW USERS YIELD user, passwordChangeRequired WHERE user = $user "
                                + "RETURN passwordChangeRequired",
                        Map.of("user", USER))) {
            if (!r.hasNext()) {
                fail("user " + USER + " does not exist in the system database");
            }
            changeRequired = (Boolean) r.next().get("passwordChangeRequired");
        }
        if (!changeRequired) {
            log("password for " + USER + " already set");
            return;
        }
        // As a parameter, so the password never appears in query text or logs.
        system.executeTransactionally(
                "ALTER USER " + USER + " SET PASSWORD $password CHANGE NOT REQUIRED",
                Map.of("password", password));
        log("initial password for " + USER + " set");
    }

    /** Bolt is bound during start-up, but only announce readiness once a TCP connect succeeds. */
    private static void waitForBolt(int port, Duration timeout) throws InterruptedException {
        Instant deadline = Instant.now().plus(timeout);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return;
            } catch (IOException e) {
                if (Instant.now().isAfter(deadline)) {
                    fail("bolt port " + port + " not accepting connections: " + e);
                }
                Thread.sleep(100);
            }
        }
    }

    /** Write then rename, so a reader never sees a half-written file. */
    private static void writeAtomically(Path target, String content) throws IOException {
        Path parent = target.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempFile(parent, ".ready", ".tmp");
        Files.writeString(tmp, content, StandardCharsets.UTF_8);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void log(String message) {
        System.out.println("[neo4j-launcher] " + message);
        System.out.flush();
    }

    private static void fail(String message) {
        System.err.println("[neo4j-launcher] error: " + message);
        System.exit(2);
    }

    private record Args(Path home, int port, Path readyFile, long pagecacheMb) {
        static Args parse(String[] argv) {
            Path home = null;
            Path ready = null;
            int port = -1;
            long pagecacheMb = 256;
            for (int i = 0; i < argv.length; i++) {
                String flag = argv[i];
                if (i + 1 >= argv.length) {
                    usage("missing value for " + flag);
                }
                String value = argv[++i];
                switch (flag) {
                    case "--home" -> home = Path.of(value).toAbsolutePath();
                    case "--port" -> port = Integer.parseInt(value);
                    case "--ready-file" -> ready = Path.of(value).toAbsolutePath();
                    case "--pagecache-mb" -> pagecacheMb = Long.parseLong(value);
                    default -> usage("unknown argument " + flag);
                }
            }
            if (home == null || port <= 0 || port > 65535) {
                usage("--home and --port are required");
            }
            return new Args(home, port, ready, pagecacheMb);
        }

        private static void usage(String problem) {
            fail(problem + "\nusage: Neo4jLauncher --home DIR --port N [--ready-file PATH]"
                    + " [--pagecache-mb N]   (password in $" + PASSWORD_ENV + ")");
        }
    }
}
