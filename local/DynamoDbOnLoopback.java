import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * DynamoDB Local as its own main class starts it (the same command-line
 * options), but listening on 127.0.0.1 only. DynamoDB Local has no option for
 * the address: its Jetty server listens on every interface, where anyone on
 * the network could read and write the table, which accepts any signature.
 * The connector is built, not yet opened, when the server object is made, so
 * its host is set before start(). Run by local/dynamodb.ts with Java's
 * source-file launcher (java DynamoDbOnLoopback.java ...), nothing to build.
 *
 * It stops when its stdin ends, that is when the process that started it
 * ends, even by SIGKILL; so that process can start it in a process group of
 * its own, out of reach of a terminal's Ctrl-C, and stop it last, once the
 * workers that use it have finished.
 */
public class DynamoDbOnLoopback {
  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server server = (Server) field.get(proxy);
    Connector[] connectors = server.getConnectors();
    if (connectors.length == 0) throw new IllegalStateException("DynamoDB Local made no connector to bind");
    for (Connector connector : connectors) ((ServerConnector) connector).setHost("127.0.0.1");
    proxy.start();
    // Lives as long as the process that started it: that process holds the other end of
    // stdin, and when it is gone, however it ended, stdin ends.
    while (System.in.read() != -1) {}
    proxy.stop();
    System.exit(0);
  }
}
