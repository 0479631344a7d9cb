package dev.sluice.examples;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;

/**
 * HTTP/1.1 by hand over a loopback socket, for what a well-behaved client never does: partial
 * headers, lying Content-Length, abrupt resets. Every request asks for {@code Connection: close}.
 */
final class RawHttp {

  private RawHttp() {}

  /** A response: status, and the body as text. */
  record Response(int status, String body) {}

  static Socket connect(int port) throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5_000);
    s.setSoTimeout(15_000);
    return s;
  }

  /** Sends {@code head} (request line and headers, CRLF-separated, without the blank line) and a body. */
  static Response exchange(int port, String head, byte[] body) throws IOException {
    try (Socket s = connect(port)) {
      OutputStream out = s.getOutputStream();
      out.write((head + "\r\nConnection: close\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes(UTF_8));
      out.write(body);
      out.flush();
      return read(s.getInputStream());
    }
  }

  static Response get(int port, String path, String key) throws IOException {
    return exchange(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1" + keyHeader(key), new byte[0]);
  }

  static Response post(int port, String path, String key, String body) throws IOException {
    return exchange(port, "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1" + keyHeader(key), body.getBytes(UTF_8));
  }

  private static String keyHeader(String key) {
    return key == null ? "" : "\r\nX-API-Key: " + key;
  }

  /**
   * Reads one response: up to its Content-Length if it has one (without waiting for the server to
   * close the connection), else until the connection closes.
   */
  static Response read(InputStream in) throws IOException {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    int headEnd = -1;
    long length = -1;
    byte[] buf = new byte[8192];
    while (true) {
      if (headEnd < 0) {
        String sofar = all.toString(ISO_8859_1);
        int i = sofar.indexOf("\r\n\r\n");
        if (i >= 0) {
          headEnd = i + 4;
          for (String line : sofar.substring(0, i).split("\r\n")) {
            if (line.regionMatches(true, 0, "Content-Length:", 0, 15)) {
              length = Long.parseLong(line.substring(15).trim());
            }
          }
        }
      }
      if (headEnd >= 0 && length >= 0 && all.size() - headEnd >= length) {
        break;
      }
      int n = in.read(buf);
      if (n < 0) {
        break;
      }
      all.write(buf, 0, n);
    }
    String text = all.toString(ISO_8859_1);
    if (!text.startsWith("HTTP/1.1 ") || headEnd < 0) {
      throw new IOException("not an HTTP response: " + text);
    }
    int status = Integer.parseInt(text.substring(9, 12));
    return new Response(status, new String(all.toByteArray(), headEnd, all.size() - headEnd, UTF_8));
  }

  /** Whether the server closed {@code s} (EOF or reset) within its read timeout. */
  static boolean closedByServer(Socket s) throws IOException {
    try {
      return s.getInputStream().read() < 0;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (SocketException reset) {
      return true;
    }
  }

  /** Closes with a TCP reset rather than a FIN: the rudest way to leave. */
  static void reset(Socket s) {
    try {
      s.setSoLinger(true, 0);
      s.close();
    } catch (IOException ignored) {
      // already gone
    }
  }
}
