package dev.farmem.transport.rdma.disni;

import com.ibm.disni.RdmaEndpoint;
import com.ibm.disni.RdmaEndpointGroup;
import com.ibm.disni.verbs.RdmaCmId;
import java.io.IOException;

/**
 * A DiSNI endpoint with its own completion queue (made by a {@code RdmaPassiveEndpointGroup}), polled by its
 * owner: farmem dispatches completions by {@code wr_id} on the queue of one QP, never by DiSNI's {@code qp_num}
 * lookup, because DiSNI fills a failed completion's {@code qp_num} only on success.
 */
public class QpEndpoint extends RdmaEndpoint {

    public QpEndpoint(RdmaEndpointGroup<? extends RdmaEndpoint> group, RdmaCmId id, boolean serverSide) throws IOException {
        super(group, id, serverSide);
    }
}
