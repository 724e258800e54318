// Enrolls with Bouncy Castle's EST client (org.bouncycastle.est) and follows 202 + Retry-After
// (RFC 7030 §4.2.3) by re-sending the request, as BC's ESTService.simpleEnroll(EnrollmentResponse) does.
// Usage: BcEnroll <host:port> <ca.pem> <user> <password> <csr.der> <out.pem> <max-wait-seconds>
// Prints one line per 202 ("pending ..."), "enrolled" on success; exit 0 ok, 3 gave up, 4 HTTP error.
import java.io.FileInputStream;
import java.io.FileWriter;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.est.ESTException;
import org.bouncycastle.est.ESTService;
import org.bouncycastle.est.EnrollmentResponse;
import org.bouncycastle.est.HttpAuth;
import org.bouncycastle.est.jcajce.JsseESTServiceBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;

public class BcEnroll {
  public static void main(String[] a) throws Exception {
    Security.addProvider(new BouncyCastleProvider());
    X509Certificate ca = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new FileInputStream(a[1]));
    KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
    ks.load(null, null);
    ks.setCertificateEntry("ca", ca);
    TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
    tmf.init(ks);
    X509TrustManager tm = (X509TrustManager) tmf.getTrustManagers()[0];
    ESTService est = new JsseESTServiceBuilder(a[0], tm).withTimeout(15000).build();
    PKCS10CertificationRequest csr = new PKCS10CertificationRequest(Files.readAllBytes(Paths.get(a[4])));
    long deadline = System.currentTimeMillis() + Long.parseLong(a[6]) * 1000;
    try {
      EnrollmentResponse r = est.simpleEnroll(false, csr, new HttpAuth(a[2], a[3].toCharArray()));
      while (!r.isCompleted()) {
        long wait = Math.max(0, r.getNotBefore() - System.currentTimeMillis());
        System.out.println("pending; retrying in " + wait + " ms");
        System.out.flush();
        if (System.currentTimeMillis() + wait > deadline) {
          System.out.println("gave up");
          System.exit(3);
        }
        Thread.sleep(wait);
        r = est.simpleEnroll(r);
      }
      X509CertificateHolder[] certs = ESTService.storeToArray(r.getStore());
      try (JcaPEMWriter w = new JcaPEMWriter(new FileWriter(a[5]))) {
        w.writeObject(certs[0]);
      }
      System.out.println("enrolled serial " + certs[0].getSerialNumber().toString(16));
    } catch (ESTException e) {
      System.out.println("status " + e.getStatusCode() + ": " + e.getMessage());
      System.exit(4);
    }
  }
}
