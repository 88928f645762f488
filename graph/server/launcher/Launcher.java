// veil's local Neo4j: an embedded Community DBMS with Bolt on 127.0.0.1 and nothing else.
//
// Run as a single source file, no build step:
//   java -Xmx1g <add-opens flags> -cp '<jars>/*' Launcher.java --home DIR --port 7687
//        --password-file FILE --pagecache 512m --tx-max 512m [--watch-stdin]
//
// Protocol with graph/server/local.py, one line each on stdout:
//   VEIL-NEO4J READY bolt://127.0.0.1:PORT   default database available, password set
//   VEIL-NEO4J FAILED <kind>: <message>      start failed; kind is store-locked or error
//   VEIL-NEO4J STOPPED                       clean shutdown finished
// SIGTERM (or stdin closing, with --watch-stdin) runs the shutdown hook, which closes the
// DBMS cleanly so the next start needs no recovery. The password is read from a file so it
// never appears on a command line or in a log.

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

public class Launcher {
    private static final String TAG = "VEIL-NEO4J";
    private static volatile DatabaseManagementService dbms;

    public static void main(String[] argv) throws Exception {
        Map<String, String> opts = parseArgs(argv);
        Path home = Path.of(required(opts, "home")).toAbsolutePath();
        int port = Integer.parseInt(required(opts, "port"));
        String password = readPassword(Path.of(required(opts, "password-file")));

        Runtime.getRuntime().addShutdownHook(new Thread(Launcher::shutdown, "veil-shutdown"));
        if (opts.containsKey("watch-stdin")) {
            watchStdin();
        }

        try {
            dbms = new DatabaseManagementServiceBuilder(home)
                    .setConfig(GraphDatabaseSettings.auth_enabled, true)
                    .setConfig(GraphDatabaseSettings.default_listen_address, new SocketAddress("127.0.0.1"))
                    .setConfig(GraphDatabaseSettings.default_advertised_address, new SocketAddress("127.0.0.1"))
                    .setConfig(BoltConnector.enabled, true)
                    .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                    .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                    .setConfig(HttpConnector.enabled, false)
                    .setConfig(HttpsConnector.enabled, false)
                    .setConfig(GraphDatabaseSettings.pagecache_memory,
                            ByteUnit.parse(opts.getOrDefault("pagecache", "512m")))
                    .setConfig(GraphDatabaseSettings.memory_transaction_global_max_size,
                            ByteUnit.parse(opts.getOrDefault("tx-max", "512m")))
                    // Netty waits 5 s of quiet per Bolt event loop group on shutdown (10 s per
                    // stop); 1 s is plenty for a local server.
                    .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 1)
                    .build();
            GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
            while (!db.isAvailable(TimeUnit.SECONDS.toMillis(5))) {
                System.out.println(TAG + " waiting for the default database");
            }
            setPassword(password);
        } catch (Throwable t) {
            System.out.println(TAG + " FAILED " + describe(t));
            t.printStackTrace();
            System.out.flush();
            System.exit(2);
        }
        System.out.println(TAG + " READY bolt://127.0.0.1:" + port);
        System.out.flush();
        Thread.currentThread().join(); // the DBMS threads keep serving; the hook ends us
    }

    /** Set neo4j's password from the file on every start: the file is the source of truth. */
    private static void setPassword(String password) {
        GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        try {
            system.executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $p CHANGE NOT REQUIRED", Map.of("p", password));
        } catch (RuntimeException e) {
            // Unchanged password: already set on an earlier start, nothing to do.
            if (!String.valueOf(e.getMessage()).contains("cannot be the same")) {
                throw e;
            }
        }
    }

    private static void shutdown() {
        DatabaseManagementService service = dbms;
        if (service != null) {
            service.shutdown();
            System.out.println(TAG + " STOPPED");
            System.out.flush();
        }
    }

    /** Exit (running the shutdown hook) when the parent closes our stdin, e.g. because it died. */
    private static void watchStdin() {
        Thread watcher = new Thread(() -> {
            try {
                byte[] buf = new byte[256];
                while (System.in.read(buf) != -1) {
                    // discard
                }
            } catch (IOException ignored) {
                // a broken pipe means the parent is gone as well
            }
            System.out.println(TAG + " stdin closed, shutting down");
            System.exit(0);
        }, "veil-stdin-watch");
        watcher.setDaemon(true);
        watcher.start();
    }

    private static String describe(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c.getClass().getSimpleName().equals("FileLockException")) {
                return "store-locked: " + c.getMessage();
            }
        }
        return "error: " + t;
    }

    private static String readPassword(Path file) throws IOException {
        return Files.readString(file, StandardCharsets.US_ASCII).strip();
    }

    private static Map<String, String> parseArgs(String[] argv) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            if (!argv[i].startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + argv[i]);
            }
            String key = argv[i].substring(2);
            if (key.equals("watch-stdin")) {
                opts.put(key, "true");
            } else {
                opts.put(key, argv[++i]);
            }
        }
        return opts;
    }

    private static String required(Map<String, String> opts, String key) {
        String value = opts.get(key);
        if (value == null) {
            throw new IllegalArgumentException("missing --" + key);
        }
        return value;
    }
}
